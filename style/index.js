import './base.css';
import './widget.css';
